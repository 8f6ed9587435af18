package bootstrap

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// Generate returns the bootstrap as YAML, keys sorted, ready for
// envoy -c. The same Config always gives the same bytes.
func Generate(cfg Config) ([]byte, error) {
	b, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	// protojson varies its whitespace on purpose; converting to YAML parses
	// it and sorts the keys, which makes the output stable.
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bootstrap: %w", err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		return nil, fmt.Errorf("encode bootstrap as YAML: %w", err)
	}
	return out, nil
}
