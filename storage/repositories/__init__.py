"""Query helpers over the tables, one module per aggregate; all take a Session first and
keyword-only arguments after it, so call sites read like sentences."""
