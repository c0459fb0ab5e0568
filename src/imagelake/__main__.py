from imagelake.cli.app import main

main()
