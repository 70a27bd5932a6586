package helmrun

// What `helm harborha export` reads of a completed wrapper's options: it
// takes the template wrapper's arguments, and renders and writes them
// itself instead of running Helm with the post-renderer.

// HelmArgs are the arguments Complete left for Helm, in order.
func (o *Options) HelmArgs() []string { return o.helmArgs }

// Release is the release name among Helm's arguments ("" when absent).
func (o *Options) Release() string { return o.release }

// Chart is the chart argument among Helm's arguments.
func (o *Options) Chart() string { return o.chart }

// Helm is the user's helm binary.
func (o *Options) Helm() string { return o.helm }
