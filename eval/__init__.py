"""deepcritic evaluation: error identification, refinement success, verified majority voting, reports, plots, the
trace viewer and the benchmarks (``python -m eval.bench``).

Entry points: ``deepcritic eval {error-id,refine,tts,report}`` and ``deepcritic view`` (:mod:`eval.cli`); the
functions behind them are :func:`eval.error_id.run_error_id`, :func:`eval.refine_success.run_refine`,
:func:`eval.tts.run_tts`, :func:`eval.report.compare_runs` and :func:`eval.view.write_view`. Metrics are pure
functions in :mod:`eval.metrics`. Importing ``eval`` loads no model library.
"""
