"""Print the schemas as Markdown tables (the README's column reference is this output)."""

from schemas import TABLE_SCHEMAS


def markdown() -> str:
    parts = []
    for table in ("articles", "duplicates", "rejects"):
        schema = TABLE_SCHEMAS[table]
        parts.append(f"#### `{table}/`\n\n| column | type | null | meaning |\n|---|---|---|---|")
        for field in schema:
            doc = field.metadata[b"doc"].decode() if field.metadata else ""
            parts.append(f"| `{field.name}` | `{field.type}` | {'yes' if field.nullable else 'no'} | {doc} |")
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown())
