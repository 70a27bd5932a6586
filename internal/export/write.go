package export

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chartutil"
)

// writeAtomically builds the export in a private directory beside dir
// and renames it into place only when fill succeeded: a failure (or an
// interrupt) leaves dir as it was.
func writeAtomically(dir string, fill func(stage string) error) (err error) {
	dir = filepath.Clean(dir)
	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".harborha-")
	if err != nil {
		return fmt.Errorf("--output-dir %s: cannot create a directory beside it: %v", dir, pathError(err))
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	if err = fill(stage); err != nil {
		return err
	}
	if err = os.Chmod(stage, 0o755); err != nil {
		return err
	}
	if err = os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--output-dir %s: %v", dir, pathError(err)) // not empty any more
	}
	if err = os.Rename(stage, dir); err != nil {
		return fmt.Errorf("--output-dir %s: %v", dir, pathError(err))
	}
	return nil
}

// writeFile writes one file of the export, creating its directory.
func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// writeChart unpacks a local chart under the export's chart home
// (charts/<name>), where kustomize's helmCharts looks for it, and returns
// its path.
func writeChart(stage string, ch *chartRef) (string, error) {
	home := filepath.Join(stage, "charts")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", err
	}
	if err := chartutil.SaveDir(ch.Chart, home); err != nil {
		return "", fmt.Errorf("writing chart %s into the export: %v", ch.Name, err)
	}
	return filepath.Join(home, ch.Name), nil
}
