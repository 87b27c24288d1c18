"""Data pipelines: continuous, exactly-once export of events, people and identity mappings
to buckets (gzip NDJSON in Mixpanel's partition layout) and warehouses.

``engine`` runs steps, ``layout`` names paths and windows, ``encode`` turns store rows into
gzip parts on both cores, ``schema`` infers and widens warehouse columns, ``scheduler``
decides what runs next; each destination lives in ``destinations/<name>/``.
"""
