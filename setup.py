"""Package metadata read from settings.ini, the single source nbdev and pip share."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

def _split(key):
    return cfg.get(key, "").split()

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    license="Apache-2.0",
    url=cfg["git_url"],
    packages=setuptools.find_packages(include=[cfg["lib_name"], cfg["lib_name"] + ".*"]),
    python_requires=">=" + cfg["min_python"],
    install_requires=_split("requirements"),
    extras_require={"dev": _split("dev_requirements")},
    entry_points={
        "console_scripts": _split("console_scripts"),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    include_package_data=True,
    zip_safe=False,
)
