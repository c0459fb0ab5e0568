from imagelake.cli import main

main()
