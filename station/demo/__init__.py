"""What a demonstration needs when no real benchmark is at hand (standard library only).

- :mod:`station.demo.loadgen`: a LoadGen stand-in, ``python -m station.demo.loadgen SECONDS``:
  it runs for SECONDS and writes LoadGen's ``mlperf_log_detail.txt`` and
  ``mlperf_log_summary.txt`` with the power window, so ``station measure`` and the MLCommons power
  client can be tried end to end on the simulated analyzer. No inference runs; its logs say so.
"""
