"""Pure rules: no I/O, no SQL, web or channel library; plain data in, decisions out."""
