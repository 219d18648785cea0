package output

import (
	"archive/tar"
	"bytes"
)

// Dockerfile is the build recipe the `docker` format ends with: the
// system's root filesystem as a scratch image whose entry point is Keel's
// PID 1.
const Dockerfile = `FROM scratch
COPY . /
ENTRYPOINT ["/init"]
`

// dockerignore keeps the recipe itself out of the image COPY makes.
const dockerignore = "Dockerfile\n.dockerignore\n"

// AddDockerContext appends a Dockerfile and a .dockerignore to a root
// filesystem tar, turning it into a Docker build context (LinuxKit's
// `docker` format): `docker build -t NAME - < NAME.docker` makes an image
// of the system. Call it after the last entry, before Close.
func (t *Tar) AddDockerContext() error {
	for _, f := range []struct{ name, body string }{
		{"Dockerfile", Dockerfile},
		{".dockerignore", dockerignore},
	} {
		h := &tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}
		if err := t.WriteEntry(h, bytes.NewReader([]byte(f.body))); err != nil {
			return err
		}
	}
	return nil
}
