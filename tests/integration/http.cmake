# The HTTP server under connection pressure (issue 8): 1,000 keep-alive clients, slow and
# half-closed sockets, fresh clients answered throughout, memory after the burst.
dw_integration_test(integration_http_pressure test_http_pressure.py)
