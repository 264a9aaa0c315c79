"""Validate FHIR R4 JSON with an independent implementation: the models of the
PyPI package fhir.resources 6.4.0, whose root package is FHIR R4 (4.0.1); later
releases moved to R4B/R5. Installed into a venv by ./test.

Reads one JSON document on stdin (a resource or a Bundle). Every resource —
the document and each Bundle entry's resource — is parsed by its model, which
checks required elements, cardinality, primitive formats (id, dateTime, code,
uri...) and refuses unknown elements. Prints one line per problem; exit 1 if any.
"""

import json
import sys

from fhir.resources import __fhir_version__, get_fhir_model_class

assert __fhir_version__ == "4.0.1", f"fhir.resources models FHIR {__fhir_version__}, not R4 4.0.1"


def check(resource, where, problems):
    kind = resource.get("resourceType")
    try:
        get_fhir_model_class(kind).parse_obj(resource)
    except Exception as e:  # the model's validation error names the element
        problems.append(f"{where} ({kind}): {e}")


def main():
    doc = json.load(sys.stdin)
    problems = []
    check(doc, "document", problems)
    if doc.get("resourceType") == "Bundle":
        for i, entry in enumerate(doc.get("entry", [])):
            check(entry.get("resource", {}), f"entry[{i}]", problems)
    for p in problems:
        print(p)
    print(f"validated {1 + len(doc.get('entry', []))} resources, {len(problems)} problems", file=sys.stderr)
    sys.exit(1 if problems else 0)


main()
