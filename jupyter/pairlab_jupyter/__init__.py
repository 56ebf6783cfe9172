"""pairlab's server-side pieces for JupyterLab: logins, start-up and health."""
