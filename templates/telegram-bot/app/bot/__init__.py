"""A minimal Telegram bot that forwards text messages to a tenant's CloudFreedom Router.

Importing the package is cheap on purpose: ``python -m bot.healthcheck`` runs it every few seconds.
"""

__version__ = "0.2.0"
