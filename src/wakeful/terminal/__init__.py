"""The command line's bodies (`wakeful run`, `wakeful shell`, `wakeful session ...`) and their
Rich rendering; `wakeful.cli` only declares the commands and their options."""
