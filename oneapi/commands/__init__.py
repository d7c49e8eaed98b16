"""``oneapi channel|token|voucher|user|option|log`` — scripted administration over the admin socket.

Each command parses its arguments, makes one or a few client calls and prints a rich table (or JSON with
``--json``). Exit codes: 0 ok; 1 the server refused (its message on stderr); 2 bad usage or input; 3 no
server answers on the socket.
"""
