"""Loan tapes: read CSV / Excel / Parquet, map headers (Chinese or English), validate, pool the AMCs' tapes;
describe them; write synthetic tapes for demos and benchmarks."""
