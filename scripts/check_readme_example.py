#!/usr/bin/python3
"""Check that README.md's example is examples/readme_example.cpp, byte for byte.

usage: scripts/check_readme_example.py README.md examples/readme_example.cpp

The README marks its example with a line `<!-- example: examples/readme_example.cpp -->`
right before the ```cpp fence; the code between that fence and the closing ``` must equal
the file. ctest compiles and runs the file (example.readme_example), so a README example
that does not compile or run fails the tests. Exit 0 if identical; else 1 with a diff.
Standard library only.
"""

import difflib
import os
import sys


def block_after_marker(readme, source_name):
    marker = f"<!-- example: {source_name} -->"
    lines = readme.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() == marker:
            if i + 1 >= len(lines) or lines[i + 1].strip() != "```cpp":
                sys.exit(f"{marker} must be followed by a ```cpp line")
            for j in range(i + 2, len(lines)):
                if lines[j].strip() == "```":
                    return "".join(lines[i + 2:j])
            sys.exit(f"the ```cpp block after {marker} is not closed")
    sys.exit(f"README has no line {marker}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    readme_path, source_path = sys.argv[1], sys.argv[2]
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    with open(source_path, encoding="utf-8") as f:
        source = f.read()
    name = "examples/" + os.path.basename(source_path)
    block = block_after_marker(readme, name)
    if block == source:
        print(f"README.md's example is {name}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(block.splitlines(keepends=True), source.splitlines(keepends=True),
                                               "README.md", name))
    print(f"\nREADME.md's example differs from {name}: change both together")
    return 1


if __name__ == "__main__":
    sys.exit(main())
