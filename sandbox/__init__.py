"""The offline world: a loopback Discord, loopback midapi and Vtrix providers, and the demo.

Everything here speaks the real wire protocols on 127.0.0.1, so the unmodified bot runs against it
with nothing but different base URLs. Tests, benchmarks and `make demo` are built on it; the bot itself
never imports it, and the Docker image leaves it out.
"""
