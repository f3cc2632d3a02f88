"""Throwaway TLS material for integration tests, made with the openssl CLI.

Does: creates a private CA and a server certificate signed by it (SAN
localhost, relay.test, 127.0.0.1, ::1) in a directory the test owns, and
builds Python ssl contexts that trust that CA.
Does not: touch any system trust store. Nothing is reused between runs.
Fails: subprocess.CalledProcessError if openssl fails.

    from tlsutil import make_certs, client_context
    certs = make_certs(dir)   # certs.ca, certs.cert, certs.key
"""
import os
import ssl
import subprocess
from types import SimpleNamespace


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(directory, names=("localhost", "relay.test"), ips=("127.0.0.1", "::1")):
    """CA + server cert/key (PEM, EC P-256) under directory/certs."""
    d = os.path.join(directory, "certs")
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=relay test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={names[0]}", cwd=d)
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return SimpleNamespace(ca=os.path.join(d, "ca.pem"), cert=os.path.join(d, "server.pem"),
                           key=os.path.join(d, "server.key"), dir=d)


def client_context(certs, verify=True):
    """An ssl.SSLContext for clients that trusts the test CA (or nothing, verify=False)."""
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=certs.ca)
