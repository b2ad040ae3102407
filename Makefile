# Two commands after cloning: `make book` (run every chapter, build the site)
# and `make test` (everything CI runs). Each sets up .venv on first use.
PYTHON ?= python3
MODE ?= quick
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup book store test bench students clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	bash scripts/setup.sh "$(PYTHON)"

book: setup
	BOOK_MODE=$(MODE) $(BIN)/python scripts/run_book.py

store: setup
	BOOK_MODE=$(MODE) $(BIN)/python scripts/run_book.py --store

test: setup
	bash scripts/test.sh

clean:
	rm -rf _build .cache
