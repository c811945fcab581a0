"""Writes the fenced code blocks of one language from a Markdown file, each as a file of its own, so that what a
README shows is compiled and run like any example (`make cdk-lib` does it for cdk/README.md).

    python tools/readme_blocks.py <markdown> <language> <out prefix> <extension>
"""
import sys
from pathlib import Path


def main(markdown, language, prefix, extension):
    parts = Path(markdown).read_text().split("```")
    blocks = [p.split("\n", 1)[1] for p in parts[1::2] if p.split("\n", 1)[0].strip() == language]
    if not blocks:
        sys.exit(f"{markdown} has no {language} block")
    for i, block in enumerate(blocks):
        Path(f"{prefix}{i}.{extension}").write_text(block)
        print(f"{prefix}{i}.{extension}")


if __name__ == "__main__":
    main(*sys.argv[1:])
