"""Build the optional native Avro row reader and writer; pyproject.toml holds everything else.

``optional=True``: when the C compiler or Python headers are missing, the extension is skipped
with a warning and streamapp installs and runs on its pure-Python reader and writer.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "streamapp.decode._avrorows",
            ["streamapp/decode/_avrorows.c"],
            optional=True,
        ),
        Extension(
            "streamapp.encode._avrowrite",
            ["streamapp/encode/_avrowrite.c"],
            optional=True,
        ),
    ]
)
