#!/usr/bin/python3
"""doc_example.py EXAMPLE DOC: passes when DOC shows EXAMPLE verbatim in a ```c block.

docs/api.md includes tests/flow/api_example.c, which the build compiles; this keeps the page
and the compiled program the same text.
"""
import sys


def main():
    example, doc = sys.argv[1], sys.argv[2]
    src = open(example, encoding="utf-8").read()
    try:
        text = open(doc, encoding="utf-8").read()
    except OSError as e:
        print(f"FAIL cannot read {doc}: {e}")
        return 1
    if "```c\n" + src + "```" not in text:
        print(f"FAIL {doc} does not show {example} verbatim in a ```c block")
        return 1
    print(f"PASS {doc} shows {example} verbatim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
