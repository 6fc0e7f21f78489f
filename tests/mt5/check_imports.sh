#!/bin/sh
# check_imports.sh OBJDUMP DLL: the DLL's import table names only Windows system DLLs
# (what every Windows x64 has), so the terminal needs nothing but decp.dll itself.
set -u
allowed="ADVAPI32.dll KERNEL32.dll msvcrt.dll USER32.dll WS2_32.dll bcrypt.dll"
names=$("$1" -p "$2" | sed -n 's/^[[:space:]]*DLL Name: //p')
if [ -z "$names" ]; then
	echo "FAIL: no import table read from $2"
	echo "0 passed, 1 failed"
	exit 1
fi
pass=0 fail=0
for n in $names; do
	ok=0
	for a in $allowed; do
		[ "$(echo "$n" | tr A-Z a-z)" = "$(echo "$a" | tr A-Z a-z)" ] && ok=1
	done
	if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2 imports $n"; fi
done
echo "imports: $names"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
