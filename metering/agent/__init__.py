"""Kashi's node agent: what a GPU node exposes, turned into usage events (SPEC §3).

Collectors read GPUs and inference servers; an allocation source says who holds each GPU;
windows become CloudEvents; the spool keeps them on disk until the server answers 202.
Light dependencies only (the ``agent`` extra): nothing here imports the server packages.
"""
