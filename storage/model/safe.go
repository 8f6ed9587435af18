package model

import "github.com/chancery-xds/chancery/internal/safetext"

// Bounds for SafeText (safetext.KeyMax, safetext.ReasonMax).
const (
	KeyTextMax    = safetext.KeyMax
	ReasonTextMax = safetext.ReasonMax
)

// SafeText is safetext.Text: s made fit to show anywhere, within limit
// bytes.
func SafeText(s string, limit int) string { return safetext.Text(s, limit) }
