package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// keepStoredKeys gives each Secret document whose private_key is
// model.Redacted, as get prints it, the key etcd holds for that secret
// now, so that get's output applies again. Changing the chain while
// keeping the key is judged as any write: a key that does not pair is
// refused. A placeholder with no key in etcd to stand for is an error.
func keepStoredKeys(cur *storage.Contents, docs []manifest.Document) ([]manifest.Document, error) {
	out := make([]manifest.Document, len(docs))
	copy(out, docs)
	var errs []error
	for i, d := range out {
		if d.Ref.Kind != model.KindSecret {
			continue
		}
		spec, tc, ok := tlsCertificateOf(d.Value)
		if !ok || jsonString(tc["private_key"]) != model.Redacted {
			continue
		}
		key := ""
		if st := cur.Objects[d.Ref]; st != nil {
			if _, stored, ok := tlsCertificateOf(st.Value); ok {
				key = jsonString(stored["private_key"])
			}
		}
		if key == "" || key == model.Redacted {
			errs = append(errs, &manifest.Error{Source: d.Source, Ref: d.Ref, Err: &model.FieldError{Field: "tls_certificate.private_key",
				Msg: fmt.Sprintf("%q stands for the key etcd holds, and etcd holds none for %s: give the PEM key, or private_key_file", model.Redacted, d.Ref)}})
			continue
		}
		value, err := withKey(spec, tc, key)
		if err != nil {
			errs = append(errs, &manifest.Error{Source: d.Source, Ref: d.Ref, Err: err})
			continue
		}
		out[i].Value = value
	}
	return out, errors.Join(errs...)
}

// tlsCertificateOf splits a Secret's value into its top level and its
// tls_certificate object.
func tlsCertificateOf(value []byte) (spec, tc map[string]json.RawMessage, ok bool) {
	if json.Unmarshal(value, &spec) != nil || json.Unmarshal(spec[model.SecretTLSCertificate], &tc) != nil || tc == nil {
		return nil, nil, false
	}
	return spec, tc, true
}

// withKey is spec with key as its tls_certificate.private_key, canonical.
func withKey(spec, tc map[string]json.RawMessage, key string) ([]byte, error) {
	k, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	tc["private_key"] = k
	b, err := json.Marshal(tc)
	if err != nil {
		return nil, err
	}
	spec[model.SecretTLSCertificate] = b
	b, err = json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return storage.CanonicalJSON(b)
}

// jsonString is raw as a string, "" if it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
