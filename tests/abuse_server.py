"""Runs one server in its own process so a test can measure it (RSS, open descriptors):
``python abuse_server.py gateway|seek JSON_CONFIG``. Prints the port, serves until stdin closes,
then stops (the exit status says whether stop() was clean)."""

from __future__ import annotations

import json
import sys

import qeltrix as qltx


def main() -> None:
    kind, cfg = sys.argv[1], json.loads(sys.argv[2])
    mk = bytes.fromhex(cfg.pop("key"))
    if "passphrase" in cfg:  # {"passphrase": ..., "kdf_params": [kdf_id, salt hex, t, m, p]}
        from qeltrix.crypto import KdfParams

        kdf_id, salt, t, m, p = cfg.pop("kdf_params")
        mk, cfg["kdf_params"] = None, KdfParams(kdf_id, bytes.fromhex(salt), t, m, p)
    if kind == "gateway":
        srv = qltx.GatewayServer(mk, listen_port=0, **cfg)
    else:
        srv = qltx.SeekServer(cfg.pop("path"), mk, port=0, **cfg)
    srv.start()
    print(srv.port, flush=True)
    sys.stdin.read()
    srv.stop()


if __name__ == "__main__":
    main()
