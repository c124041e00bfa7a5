from trustroom.cli import main

main()
