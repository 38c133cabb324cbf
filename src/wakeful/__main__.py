from wakeful.cli import main

main()
