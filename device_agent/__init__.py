"""The tinyfleet device agent: Linux edge boards, the MCU serial gateway, and the fleet simulator.

Layout (one concept per module, docs/agent.md):

    config.py        agent.toml
    backoff.py       exponential backoff with full jitter (pure)
    mqtt_session.py  MQTT 5 persistent session, last will, reconnect
    download.py      HTTP Range download with resume and sha256
    fetch.py         the download and verify steps (signature, digests, anti-rollback), shared
    install.py       A/B slot directories with an atomic switch
    runtimes.py      LiteRT / onnxruntime behind one interface
    hotswap.py       active + previous model, swap without dropping a request
    reconcile.py     the update state machine (one transition table) and its executor
    telemetry.py     latency, errors, drift histograms; on-disk store-and-forward
    serve.py         local inference endpoint (HTTP on localhost and/or a Unix socket)
    replay.py        feed inputs from an npz/csv file into the active model
    agent.py         wires the above together for one Linux device
    gateway.py       MCUs behind a serial port, each its own device
    mcu_link.py      what the gateway needs from an MCU; resumable OTA streaming
    serial_link.py   McuLink over the serial frame protocol (tinyfleet/serialproto.py)
    cli.py           `tinyfleet agent run`
    sim/             N virtual devices in one asyncio process
"""
