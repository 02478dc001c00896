#!/bin/sh
# Every language in po/LINGUAS compiles cleanly and is complete:
# no fuzzy and no untranslated messages.
set -eu
po="$1/po"
status=0
for lang in $(grep -v '^#' "$po/LINGUAS"); do
  report=$(msgfmt --check --statistics -o /dev/null "$po/$lang.po" 2>&1) || status=1
  echo "$lang: $report"
  case "$report" in
    *untranslated*|*fuzzy*) status=1 ;;
  esac
done
exit $status
