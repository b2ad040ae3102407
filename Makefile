# Two commands after cloning: `make book` (run every chapter, build the site)
# and `make test` (everything CI runs). Each sets up .venv on first use.
PYTHON ?= python3
MODE ?= quick
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup book store test bench students pdf clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	bash scripts/setup.sh "$(PYTHON)"

book: setup
	BOOK_MODE=$(MODE) $(BIN)/python scripts/run_book.py

store: setup
	BOOK_MODE=$(MODE) $(BIN)/python scripts/run_book.py --store

test: setup
	bash scripts/test.sh

students: setup
	$(BIN)/python scripts/student_copies.py

pdf: setup
	bash scripts/build_pdf.sh

bench: setup
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf _build .cache
