"""Scenario studies: study files, sweeps, executors (serial / process / Dask) and the crash-safe results store."""
