#!/usr/bin/env bash
# Build the printable book, _build/book.pdf, from the notebooks' stored outputs
# with jupyter-book's LaTeX builder (XeLaTeX).
#   bash scripts/build_pdf.sh              # _build/book.pdf, solutions included
#   bash scripts/build_pdf.sh --students   # _build/book-students.pdf, without them
#
# Needs Debian's TeX packages (about 200 MB to download; installed here when
# run as root, otherwise the apt-get command to run is printed) and .venv.
# The PDF settings live in a derived copy of _config.yml, so the site's own
# configuration stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
name=book hide_solutions=False
case "${1:-}" in
  "") ;;
  --students) name=book-students hide_solutions=True ;;
  *) echo "Unknown option $1; use --students or nothing." >&2; exit 2 ;;
esac

packages=(latexmk texlive-xetex texlive-latex-extra texlive-fonts-recommended
          fonts-freefont-otf xindy texlive-lang-cjk texlive-lang-chinese
          fonts-wqy-microhei)
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages for the PDF: ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} with apt-get (a few minutes)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -f .venv/.installed ] || bash scripts/setup.sh

started=$(date +%s)
output=_build/pdf/$name
mkdir -p "$output"
# The glossary holds Chinese terms: xeCJK with WenQuanYi Micro Hei prints them.
.venv/bin/python - "$output/_config.yml" "$hide_solutions" <<'PYTHON'
import sys
from pathlib import Path

import yaml

config = yaml.safe_load(open("_config.yml"))
# The derived copy lives elsewhere: make the paths it names absolute.
extensions = config.get("sphinx", {}).get("local_extensions") or {}
for name, folder in extensions.items():
    extensions[name] = str(Path(folder).resolve())
config.setdefault("latex", {})["latex_documents"] = {"targetname": "book.tex"}
sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
sphinx_config["hide_solutions"] = sys.argv[2] == "True"  # sphinx-exercise's switch
sphinx_config["latex_elements"] = {
    "preamble": "\\usepackage{xeCJK}\n\\setCJKmainfont{WenQuanYi Micro Hei}\n"
    # Curly quotes stay in the Latin font, not as wide CJK punctuation.
    "\\xeCJKDeclareCharClass{Default}{\"2018, \"2019, \"201C, \"201D}\n"}
with open(sys.argv[1], "w") as file:
    yaml.safe_dump(config, file, sort_keys=False, allow_unicode=True)
PYTHON
# jupyter-book's LaTeX class loads bbm (only in the 500 MB texlive-fonts-extra);
# scripts/latex/ holds a small stand-in that TEXINPUTS puts on TeX's path.
TEXINPUTS="$PWD/scripts/latex//:" .venv/bin/jupyter-book build . --builder pdflatex \
  --config "$output/_config.yml" --path-output "$output" \
  > "$output/build.log" 2>&1 || {
  echo "The PDF build failed; the last lines of $output/build.log:" >&2
  grep -v '^(/usr' "$output/build.log" | tail -40 >&2
  exit 1
}
cp "$output/_build/latex/book.pdf" "_build/$name.pdf"
echo "PDF built in $(( $(date +%s) - started )) s: _build/$name.pdf" \
     "($(du -h "_build/$name.pdf" | cut -f1))"
