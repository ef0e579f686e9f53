"""Search: filter strings and order_by items parsed into a small AST, and opaque page tokens.

Pure Python with no database knowledge; the SQL store compiles the AST
(``runlab.store.sql.search_compiler``).
"""

from runlab.search.ast import And, Comparison, Expr, Key, KeyType, Not, Or, OrderBy, Value
from runlab.search.order_by import parse_experiment_order_by, parse_run_order_by
from runlab.search.page_token import decode_page_token, encode_page_token, query_fingerprint
from runlab.search.parser import parse_experiment_filter, parse_run_filter
from runlab.search.registry_grammar import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "Key",
    "KeyType",
    "Not",
    "Or",
    "OrderBy",
    "Value",
    "decode_page_token",
    "encode_page_token",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_model_version_filter",
    "parse_model_version_order_by",
    "parse_registered_model_filter",
    "parse_registered_model_order_by",
    "parse_run_filter",
    "parse_run_order_by",
    "query_fingerprint",
]
