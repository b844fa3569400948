"""In-process fakes of the services the platform talks to (Coolify), with their own tests.

Start at :mod:`tests.fakes.coolify` (:class:`~tests.fakes.coolify.FakeCoolify`); the OpenAPI request
checker is :mod:`tests.fakes.openapi`, the manual clock :mod:`tests.fakes.clock`.
"""
