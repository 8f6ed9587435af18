package manifest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/chancery-xds/chancery/storage/model"
)

// maxPEMFile bounds a PEM file a Secret document names: well above the
// largest text the model accepts (a CA bundle of 512 KiB), so that the
// model, not the reader, says what is too large.
const maxPEMFile = 1 << 20

// secretFiles are the PEM fields of a Secret that a document may give as
// a file instead: <field>_file, read and written inline as <field>.
var secretFiles = []struct {
	object string
	fields []string
}{
	{"tls_certificate", []string{"certificate_chain", "private_key"}},
	{"validation_context", []string{"ca_bundle"}},
}

// inlineSecretFiles reads the files a Secret's spec names, relative to
// dir, into the fields they stand for. A spec that names no file is
// returned as it is, for the model to judge. Errors name the field and
// the file, never what the file holds.
func inlineSecretFiles(dir string, spec []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(spec, &top) != nil {
		return spec, nil // the model says what is wrong
	}
	changed := false
	for _, part := range secretFiles {
		var obj map[string]json.RawMessage
		if raw, ok := top[part.object]; !ok || json.Unmarshal(raw, &obj) != nil {
			continue
		}
		n, err := inlineFields(dir, part.object, part.fields, obj)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			b, err := json.Marshal(obj)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", part.object, err)
			}
			top[part.object], changed = b, true
		}
	}
	if !changed {
		return spec, nil
	}
	return json.Marshal(top)
}

// inlineFields replaces each <field>_file of obj by <field>, the file's
// text; it returns how many it replaced.
func inlineFields(dir, object string, fields []string, obj map[string]json.RawMessage) (int, error) {
	n := 0
	for _, f := range fields {
		raw, ok := obj[f+"_file"]
		if !ok {
			continue
		}
		field := object + "." + f + "_file"
		var path string
		if err := json.Unmarshal(raw, &path); err != nil || path == "" {
			return 0, &model.FieldError{Field: field, Msg: "want the path of a PEM file"}
		}
		if _, both := obj[f]; both {
			return 0, &model.FieldError{Field: field, Msg: fmt.Sprintf("give %s or %s_file, not both", f, f)}
		}
		text, err := readPEMFile(dir, path)
		if err != nil {
			return 0, &model.FieldError{Field: field, Msg: err.Error()}
		}
		b, err := json.Marshal(text)
		if err != nil {
			return 0, &model.FieldError{Field: field, Msg: err.Error()}
		}
		obj[f] = b
		delete(obj, f+"_file")
		n++
	}
	return n, nil
}

// readPEMFile reads a PEM file, path relative to dir unless absolute. Its
// errors say which file, not what it holds.
func readPEMFile(dir, path string) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	case len(b) > maxPEMFile:
		return "", fmt.Errorf("%s: larger than %d MiB, not a PEM certificate or key", path, maxPEMFile>>20)
	case !utf8.Valid(b):
		return "", fmt.Errorf("%s: not text: want PEM (a DER file converts with openssl x509 -outform PEM, or openssl pkey)", path)
	}
	return string(b), nil
}

// documentDir is where the files a document names are found: beside its
// file, or the working directory for standard input.
func documentDir(file string) string {
	if file == Stdin {
		return "."
	}
	return filepath.Dir(file)
}
