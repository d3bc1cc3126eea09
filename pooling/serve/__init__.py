"""The negotiation workspace (``pooling serve``): a small web application over one scenario.

Users (:mod:`pooling.serve.users`) log in as the ``coordinator`` or as one AMC; the coordinator runs rounds
(re-select and re-size through :func:`pooling.pipeline.run_scenario` with changed limits) in a background worker;
each AMC accepts or objects; everything is kept in an append-only SQLite audit log (:mod:`pooling.serve.store`).
An AMC user never sees another AMC's loan-level rows, and pool aggregates hide cells that would reveal a few
assets of another AMC. The application is built by :func:`pooling.serve.app.create_app`.
"""
