from kimibridge.cli import main

main()
