"""L4 ingress: what platd listens on for endpoints, and the data planes that carry the bytes.

    model.py       the data plane's whole input: listeners and their backends (pure values)
    driver.py      the ``IngressDriver`` protocol and ``FakeDriver`` for tests
    builtin.py     the embedded proxy: epoll + splice(2) through pipes, no bytes in Python
    haproxy.py     HAProxy (Debian's package) run by platd in master-worker mode
    config.py      endpoint rows and healthy instances -> the model (``build_config``)
    controller.py  applies the model after every commit; drains instances before stops
"""
