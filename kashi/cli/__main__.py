from kashi.cli import main

main()
