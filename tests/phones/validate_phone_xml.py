"""Validate CiscoIPPhone objects against Cisco's schema with an independent parser.

usage: validate_phone_xml.py SCHEMA FILE...
Prints one line per invalid file and exits 1 if any is invalid.
"""
import sys

import xmlschema


def main() -> int:
    schema = xmlschema.XMLSchema(sys.argv[1])
    bad = 0
    for path in sys.argv[2:]:
        errors = list(schema.iter_errors(path))
        if errors:
            bad += 1
            print(f"{path}: {errors[0].reason} at {errors[0].path}")
    print(f"{len(sys.argv) - 2 - bad} valid, {bad} invalid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
