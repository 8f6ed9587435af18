package election_test

import (
	"testing"

	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
)

func TestMain(m *testing.M) { clustertest.Main(m) }
