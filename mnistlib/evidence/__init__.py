"""What measures the library and backs its claims: the benchmark (``bench``, ``cpu_options``), the committed
records (``records``) and their tables (``tables``), the reference runs that ship with the package
(``reference``), and the ``records`` command that remakes them (``remake``)."""
