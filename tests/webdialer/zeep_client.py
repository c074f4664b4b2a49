"""Call WebDialer's SOAP operations with python-zeep, a client built from Cisco's WSDL alone.

Usage: zeep_client.py WSDL URL OPERATION JSON-ARGS
Prints the operation's result as JSON. The SOAP-encoding schema the WSDL imports is taken
from the xmlschema package, so nothing is fetched from the network; the server's
self-signed certificate is trusted as given by --ca (or not checked with --insecure).
"""
import argparse
import json
import os
import sys

import requests
import xmlschema
import zeep
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.loader import load_external

ENCODING_NS = "http://schemas.xmlsoap.org/soap/encoding/"


class LocalEncoding(Transport):
    """Serves the SOAP-encoding schema from xmlschema's copy; everything else as usual."""

    def __init__(self, **kw):
        super().__init__(**kw)
        here = os.path.dirname(xmlschema.__file__)
        with open(os.path.join(here, "schemas", "WSDL", "soap-encoding.xsd"), "rb") as f:
            self._encoding = f.read()

    def load(self, url):
        if url.rstrip("/") == ENCODING_NS.rstrip("/"):
            return self._encoding
        return super().load(url)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("wsdl")
    p.add_argument("url")
    p.add_argument("calls", help="JSON list of [operation, {args}]")
    p.add_argument("--ca")
    a = p.parse_args()
    session = requests.Session()
    # REQUESTS_CA_BUNDLE in the environment would replace the certificate given here.
    session.trust_env = False
    session.verify = a.ca if a.ca else False
    transport = LocalEncoding(session=session, timeout=30)
    client = zeep.Client(a.wsdl, transport=transport)
    service = client.create_service(
        "{urn:WD70}WebdialerSoapService70SoapBinding", a.url
    )
    out = []
    for op, args in json.loads(a.calls):
        try:
            result = getattr(service, op)(**args)
            out.append({"ok": serialize_object(result, dict)})
        except zeep.exceptions.Fault as f:
            out.append({"fault": f.message})
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
