package objectstatus

// fuzzCert and fuzzKey are a demo certificate and its key: the live
// keyspace serves them, and no log line or status record may show the key.
const (
	fuzzCert = "-----BEGIN CERTIFICATE-----\nMIIBlzCCAT2gAwIBAgIBZjAKBggqhkjOPQQDAjAUMRIwEAYDVQQDEwlnb2xkZW4g\nQ0EwIBcNMjYwMTAxMDAwMDAwWhgPMjEyNjAxMDEwMDAwMDBaMBgxFjAUBgNVBAMT\nDWEuZXhhbXBsZS5jb20wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQy1vEb1gea\nDXilOLGIHiAZ5opSDJr4QF4zN+QTwrzP1BZdqaq4b8FZCxDuBl1otXbZ0FnunIMl\nMpQdgAiciUCzo3oweDAOBgNVHQ8BAf8EBAMCB4AwHQYDVR0lBBYwFAYIKwYBBQUH\nAwEGCCsGAQUFBwMCMAwGA1UdEwEB/wQCMAAwHwYDVR0jBBgwFoAUydvfdmvQacYM\nnchMxjuMUMvaFoUwGAYDVR0RBBEwD4INYS5leGFtcGxlLmNvbTAKBggqhkjOPQQD\nAgNIADBFAiAjn/XcSboKnQ1odEiGnW5kQc5MtJfkmd6jvKTSLA3FuAIhAJ54ML7D\nhUHir+ISlCFHvTMGcnp8Np0jZOR8Bn+zInU9\n-----END CERTIFICATE-----\n"
	fuzzKey  = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIBFbi3ztQG278xI9\nE5nl75Dlz93h2++ATBvPOGXHxdihRANCAAQy1vEb1geaDXilOLGIHiAZ5opSDJr4\nQF4zN+QTwrzP1BZdqaq4b8FZCxDuBl1otXbZ0FnunIMlMpQdgAiciUCz\n-----END PRIVATE KEY-----\n"
)
